//! How each key operation is spelled in the chosen [`Protocol`], and what its replies mean.
//!
//! Requests are built per protocol; replies are read by one function per operation that
//! understands both dialects (`STORED` and `HD` both mean stored), so the operations above
//! carry no protocol branches of their own.

use std::cell::Cell;

use memproto::{
    Command, Exptime, MetaGet, MetaReply, MetaSet, MetaSetMode, MetaStatus, Reply, Retrieve,
    RetrieveKind, Store, StoreMode,
};

use crate::client::config::Config;
use crate::client::protocol::{Protocol, Token};
use crate::client::unexpected;
use crate::error::{Error, Result};
use crate::ops::item::{Item, ItemInfo};

thread_local! {
    static NEXT_TOKEN: Cell<u32> = const { Cell::new(0) };
}

/// The opaque token for a request: a fresh one when it is sent as a meta command
/// (`meta`), else an empty one, which costs nothing.
pub(crate) fn token(meta: bool) -> Token {
    if meta {
        next_token()
    } else {
        Token::EMPTY
    }
}

/// The opaque token for a request in the client's protocol (see [`token`]).
pub(crate) fn token_for(config: &Config) -> Token {
    token(config.protocol == Protocol::Meta)
}

/// A fresh opaque token for a meta request. Replies are paired with requests by their
/// order; the token is a check on top of that (a reply echoing another token closes the
/// connection), so it only has to change from request to request, which a per-thread
/// counter does with no shared state.
fn next_token() -> Token {
    let token = NEXT_TOKEN.with(|next| {
        let token = next.get();
        next.set(token.wrapping_add(1));
        token
    });
    Token::new(u64::from(token))
}

/// What a single-key fetch asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fetch {
    pub(crate) kind: RetrieveKind,
    pub(crate) return_flags: bool,
    /// Also ask for TTL, last access, fetched-before and size (`mg` flags `t l h s`).
    pub(crate) info: bool,
}

impl Fetch {
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
        Reply::Meta(meta) => match meta.status {
            MetaStatus::Va => Ok(Some(meta_item(*meta, fetch))),
            MetaStatus::En | MetaStatus::Quiet => Ok(None),
            status => Err(unexpected_status(status)),
        },
        other => Err(unexpected(other)),
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
            let mut store = Store::new(args.mode, args.key, args.value);
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
        Reply::Meta(meta) => match meta.status {
            MetaStatus::Hd => Ok(()),
            MetaStatus::Ns => Err(Error::NotStored),
            MetaStatus::Ex => Err(Error::Exists),
            MetaStatus::Nf => Err(Error::NotFound),
            status => Err(unexpected_status(status)),
        },
        other => Err(unexpected(other)),
    }
}

/// A classic single-key retrieval.
pub(crate) fn retrieve<'a>(kind: RetrieveKind, keys: &'a [&'a [u8]; 1]) -> Command<'a> {
    Command::Retrieve(Retrieve { kind, keys })
}

pub(crate) fn unexpected_status(status: MetaStatus) -> Error {
    Error::UnexpectedReply(format!("meta status {status:?}"))
}
