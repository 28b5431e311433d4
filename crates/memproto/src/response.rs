//! Decoded replies.

use bytes::Bytes;

use crate::meta::MetaFlags;

/// One complete reply, paired with the request at the head of the decoder's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `STORED`.
    Stored,
    /// `NOT_STORED`: the storage condition failed (add on a present key, replace, append or
    /// prepend on a missing one).
    NotStored,
    /// `EXISTS`: a `cas` lost to a newer write.
    Exists,
    /// `NOT_FOUND`.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK`.
    Ok,
    /// The new value of an `incr` or `decr`.
    Number(u64),
    /// The items a retrieval found, in the order the server sent them. Misses are absent.
    Values(Items),
    /// The text after `VERSION `.
    Version(Bytes),
    /// The lines of a `stats` reply.
    Stats(Vec<Stat>),
    /// A meta reply (boxed: it is much larger than the classic replies). One that carries
    /// nothing but its status and opaque comes as [`Reply::Status`] instead; build either
    /// with `Reply::from(MetaReply)`, read either with [`Reply::meta_status`] or
    /// [`Reply::into_meta`].
    Meta(Box<MetaReply>),
    /// A meta reply that carries nothing but its status, and the opaque token it echoed
    /// (which the decoder checked against the request's): `HD`, `NS`, `EN`, `MN`, the
    /// silence of a quiet request. Not boxed: a batch of writes decodes one per command.
    Status {
        /// The status code.
        status: MetaStatus,
        /// The `O` flag echoed back, if the request had one.
        opaque: Option<Bytes>,
    },
    /// `ERROR`, `CLIENT_ERROR` or `SERVER_ERROR`. The server may close the connection after
    /// a `SERVER_ERROR`.
    Error(ServerError),
    /// The request was a quiet meta request (flag `q`) in a run of quiet requests, ended
    /// by `mn` (or not ended yet), during which the server sent an error line. Error lines carry no opaque, so the decoder
    /// cannot tell which request of the run failed: this one either failed with this error
    /// or succeeded in silence (for `mg`, missed). Replies that echo their opaque (hits)
    /// and the reply of the answered request ending the run (`mn`) are still certain, and
    /// the stream stays in sync.
    ///
    /// Send commands that may fail without `q` when each one's outcome matters.
    Unattributed(ServerError),
    /// Any other status line (`RESET`, `MEMLIMIT_TOO_SMALL ...`, admin replies), without CRLF.
    Other(Bytes),
}

impl Reply {
    /// The status of a meta reply, in either form; `None` for any other reply.
    pub fn meta_status(&self) -> Option<MetaStatus> {
        match self {
            Reply::Meta(meta) => Some(meta.status),
            Reply::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A meta reply in its full form (a [`Reply::Status`] expanded, without allocating);
    /// any other reply is handed back.
    ///
    /// # Errors
    /// The reply is not a meta reply.
    pub fn into_meta(self) -> Result<MetaReply, Reply> {
        match self {
            Reply::Meta(meta) => Ok(*meta),
            Reply::Status { status, opaque } => Ok(MetaReply {
                status,
                value: None,
                flags: MetaFlags {
                    opaque,
                    ..MetaFlags::default()
                },
                debug: None,
            }),
            other => Err(other),
        }
    }
}

impl From<MetaReply> for Reply {
    /// [`Reply::Status`] for a reply with nothing but its status and opaque, else
    /// [`Reply::Meta`].
    fn from(meta: MetaReply) -> Self {
        let MetaReply {
            status,
            value,
            flags,
            debug,
        } = meta;
        let bare = MetaFlags {
            opaque: None,
            ..flags.clone()
        } == MetaFlags::default();
        if value.is_none() && debug.is_none() && bare {
            Reply::Status {
                status,
                opaque: flags.opaque,
            }
        } else {
            Reply::Meta(Box::new(MetaReply {
                status,
                value,
                flags,
                debug,
            }))
        }
    }
}

/// The items of a retrieval reply: a slice to read, a list to iterate. A single item (the
/// common single-key get) is held inline, without an allocation.
#[derive(Debug, Clone, Default)]
pub struct Items(ItemsRepr);

#[derive(Debug, Clone, Default)]
enum ItemsRepr {
    #[default]
    Empty,
    One(Item),
    Many(Vec<Item>),
}

impl Items {
    /// No items.
    pub fn new() -> Self {
        Items::default()
    }

    /// Adds an item; `more` is how many may still follow (a capacity hint).
    pub(crate) fn push(&mut self, item: Item, more: usize) {
        match &mut self.0 {
            ItemsRepr::Empty => self.0 = ItemsRepr::One(item),
            ItemsRepr::Many(many) => many.push(item),
            ItemsRepr::One(_) => {
                let mut many = Vec::with_capacity(2 + more);
                if let ItemsRepr::One(first) = std::mem::take(&mut self.0) {
                    many.push(first);
                }
                many.push(item);
                self.0 = ItemsRepr::Many(many);
            }
        }
    }

    /// The items as a vector.
    pub fn into_vec(self) -> Vec<Item> {
        match self.0 {
            ItemsRepr::Empty => Vec::new(),
            ItemsRepr::One(item) => vec![item],
            ItemsRepr::Many(many) => many,
        }
    }
}

impl std::ops::Deref for Items {
    type Target = [Item];

    fn deref(&self) -> &[Item] {
        match &self.0 {
            ItemsRepr::Empty => &[],
            ItemsRepr::One(item) => std::slice::from_ref(item),
            ItemsRepr::Many(many) => many,
        }
    }
}

impl PartialEq for Items {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl Eq for Items {}

impl From<Vec<Item>> for Items {
    fn from(items: Vec<Item>) -> Self {
        Items(ItemsRepr::Many(items))
    }
}

impl FromIterator<Item> for Items {
    fn from_iter<I: IntoIterator<Item = Item>>(iter: I) -> Self {
        let mut items = Items::new();
        for item in iter {
            items.push(item, 0);
        }
        items
    }
}

impl IntoIterator for Items {
    type Item = Item;
    type IntoIter = ItemsIntoIter;

    fn into_iter(self) -> ItemsIntoIter {
        ItemsIntoIter(match self.0 {
            ItemsRepr::Empty => IntoIterRepr::One(None),
            ItemsRepr::One(item) => IntoIterRepr::One(Some(item)),
            ItemsRepr::Many(many) => IntoIterRepr::Many(many.into_iter()),
        })
    }
}

impl<'a> IntoIterator for &'a Items {
    type Item = &'a Item;
    type IntoIter = std::slice::Iter<'a, Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The owning iterator over [`Items`].
#[derive(Debug)]
pub struct ItemsIntoIter(IntoIterRepr);

#[derive(Debug)]
enum IntoIterRepr {
    One(Option<Item>),
    Many(std::vec::IntoIter<Item>),
}

impl Iterator for ItemsIntoIter {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        match &mut self.0 {
            IntoIterRepr::One(item) => item.take(),
            IntoIterRepr::Many(items) => items.next(),
        }
    }
}

/// An item found by a retrieval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's key, as the server returned it (a slice of the read buffer).
    pub key: Bytes,
    /// The client flags stored with the item.
    pub flags: u32,
    /// The CAS unique (`gets` and `gats` only).
    pub cas: Option<u64>,
    /// The value: a slice of the read buffer, not a copy.
    pub value: Bytes,
}

/// One line of a `stats` reply. For `STAT <name> <value>` lines, the name and the rest of the
/// line; for other lines (from `stats cachedump` or `stats detail dump`), the first token and
/// the rest of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The statistic's name.
    pub name: Bytes,
    /// Its value, as text (may be empty or hold spaces).
    pub value: Bytes,
}

/// Which error line the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerErrorKind {
    /// `ERROR`: the server did not recognise the command.
    Error,
    /// `CLIENT_ERROR`: the request broke the protocol.
    Client,
    /// `SERVER_ERROR`: the server failed (out of memory, object too large).
    Server,
}

/// An error line sent by the server, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// Which error line.
    pub kind: ServerErrorKind,
    /// The text after the keyword, without the separating space (may be empty).
    pub message: Bytes,
}

/// The status code of a meta reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaStatus {
    /// `HD`: success without a value.
    Hd,
    /// `VA`: success with a value.
    Va,
    /// `EN`: miss.
    En,
    /// `NF`: not found.
    Nf,
    /// `NS`: not stored.
    Ns,
    /// `EX`: CAS mismatch.
    Ex,
    /// `MN`: the no-op barrier.
    Mn,
    /// `ME`: a debug line.
    Me,
    /// A quiet request the server answered with silence, which means its uninteresting
    /// outcome: a miss for `mg`, success for `ms`, `md` and `ma`.
    Quiet,
}

/// A decoded meta reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaReply {
    /// The status code.
    pub status: MetaStatus,
    /// The value of a `VA` reply.
    pub value: Option<Bytes>,
    /// The flags returned with the reply.
    pub flags: MetaFlags,
    /// For `ME`: everything after `ME `.
    pub debug: Option<Bytes>,
}

#[cfg(test)]
mod compact_tests {
    use super::*;

    fn reply(status: MetaStatus, flags: MetaFlags) -> MetaReply {
        MetaReply {
            status,
            value: None,
            flags,
            debug: None,
        }
    }

    #[test]
    fn a_bare_status_is_compact_and_expands_back_whole() {
        let opaque = MetaFlags {
            opaque: Some(Bytes::from_static(b"7")),
            ..MetaFlags::default()
        };
        let compact = Reply::from(reply(MetaStatus::Hd, opaque.clone()));
        assert_eq!(
            compact,
            Reply::Status {
                status: MetaStatus::Hd,
                opaque: Some(Bytes::from_static(b"7")),
            }
        );
        assert_eq!(compact.meta_status(), Some(MetaStatus::Hd));
        assert_eq!(compact.into_meta(), Ok(reply(MetaStatus::Hd, opaque)));
    }

    #[test]
    fn anything_more_than_a_status_stays_whole() {
        let with_cas = MetaFlags {
            cas: Some(5),
            ..MetaFlags::default()
        };
        let whole = Reply::from(reply(MetaStatus::Hd, with_cas.clone()));
        assert!(matches!(&whole, Reply::Meta(meta) if meta.flags == with_cas));
        let value = MetaReply {
            value: Some(Bytes::from_static(b"v")),
            ..reply(MetaStatus::Va, MetaFlags::default())
        };
        assert!(matches!(Reply::from(value), Reply::Meta(_)));
        assert_eq!(Reply::Stored.meta_status(), None);
        assert_eq!(Reply::Stored.into_meta(), Err(Reply::Stored));
    }
}
