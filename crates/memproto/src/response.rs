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
    Values(Vec<Item>),
    /// The text after `VERSION `.
    Version(Bytes),
    /// The lines of a `stats` reply.
    Stats(Vec<Stat>),
    /// A meta reply (boxed: it is much larger than the classic replies).
    Meta(Box<MetaReply>),
    /// `ERROR`, `CLIENT_ERROR` or `SERVER_ERROR`. The server may close the connection after
    /// a `SERVER_ERROR`.
    Error(ServerError),
    /// Any other status line (`RESET`, `MEMLIMIT_TOO_SMALL ...`, admin replies), without CRLF.
    Other(Bytes),
}

/// An item found by a retrieval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's key (equal to the one the server returned; shares the request's memory).
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

impl MetaReply {
    pub(crate) fn quiet() -> Self {
        MetaReply {
            status: MetaStatus::Quiet,
            value: None,
            flags: MetaFlags::default(),
            debug: None,
        }
    }
}
